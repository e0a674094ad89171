"""Every catalog competition prepares from a raw folder in its real Kaggle layout, and grades.

For each competition the test writes a small raw folder with Kaggle's file names and
column names (train/test tables, sample submission, per-row images or side tables),
filled with generated values, runs ``prepare_competition(name, raw_dir=...)`` and checks:
the competition dir loads; its sample submission is valid; the answers, submitted as they
are, score the metric's best value; the answers never reach public/.
"""

from __future__ import annotations

import json
import math
import shutil
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dojo_kernel.competition import load_competition_dir
from dojo_kernel.metrics import get_metric
from dojo_kernel.prepare.catalog import (
    NotInCatalog,
    get_entry,
    list_catalog,
    load_catalog,
    prepare_competition,
)
from dojo_kernel.prepare.recipes import RecipeError

# Values a generated column can take.
BIN, FLOAT, POS, INT5, TEXT, DATE, HEX, BOOL = "bin", "float", "pos", "int5", "text", "date", "hex", "bool"


def cls(*labels: str) -> tuple[str, ...]:
    return labels


def cols(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix}{i}" for i in range(start, start + n)]


@dataclass
class Layout:
    """A competition's raw files: the labelled table, the test table, the sample submission."""

    id: str
    columns: list[str]  # the labelled table's columns, in Kaggle's order
    targets: dict[str, object]  # target column -> value kind
    train: str = "train.csv"
    test: str | None = "test.csv"
    sample: str = "sample_submission.csv"
    test_id: str | None = None  # the test table's id column when it differs
    train_only: tuple[str, ...] = ()  # columns of the labelled table absent from the test table
    sample_names: dict[str, str] = field(default_factory=dict)  # target -> sample column
    sample_classes: bool = False  # one sample column per class of the (single) target
    values: dict[str, object] = field(default_factory=dict)  # other columns' value kinds
    files: str | None = None  # per-row file pattern in the raw folder
    extra: dict[str, str] = field(default_factory=dict)  # side file -> header line
    no_id: bool = False  # Kaggle's labelled table has no id column...
    test_has_id: bool = True  # ...though its test table usually has one
    unlabelled_rows: bool = False  # test rows sit in the same table with an empty target
    rows: int = 120


def lay(id: str, columns: str | list[str], targets: dict[str, object], **kw: object) -> Layout:
    names = columns.split(",") if isinstance(columns, str) else list(columns)
    return Layout(id=id, columns=names, targets=targets, **kw)  # type: ignore[arg-type]


TITANIC = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked"
SPACESHIP = (
    "PassengerId,HomePlanet,CryoSleep,Cabin,Destination,Age,VIP,RoomService,FoodCourt,"
    "ShoppingMall,Spa,VRDeck,Name,Transported"
)
JIGSAW = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
RANZCR = [
    "ETT - Abnormal", "ETT - Borderline", "ETT - Normal", "NGT - Abnormal", "NGT - Borderline",
    "NGT - Incompletely Imaged", "NGT - Normal", "CVC - Abnormal", "CVC - Borderline",
    "CVC - Normal", "Swan Ganz Catheter Present",
]
STEEL = ["Pastry", "Z_Scratch", "K_Scatch", "Stains", "Dirtiness", "Bumps", "Other_Faults"]
ELL = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]
COVID_OLD = "Id,Province/State,Country/Region,Lat,Long,Date,ConfirmedCases,Fatalities"
COVID = "Id,Province_State,Country_Region,Date,ConfirmedCases,Fatalities"
COVID_Y = {"ConfirmedCases": POS, "Fatalities": POS}
COVID_KW = dict(test_id="ForecastId", sample="submission.csv", values={"Date": DATE, "Province_State": TEXT, "Province/State": TEXT})
SALES = "date,country,store,product,num_sold"
BIRD_WORDS = {"text": TEXT}
LEAF = ["id", "species", *cols("margin", 64, 1), *cols("shape", 64, 1), *cols("texture", 64, 1)]
NOMAD = (
    "id,spacegroup,number_of_total_atoms,percent_atom_al,percent_atom_ga,percent_atom_in,"
    "lattice_vector_1_ang,lattice_vector_2_ang,lattice_vector_3_ang,lattice_angle_alpha_degree,"
    "lattice_angle_beta_degree,lattice_angle_gamma_degree,formation_energy_ev_natom,bandgap_energy_ev"
)
TAXI = (
    "key,fare_amount,pickup_datetime,pickup_longitude,pickup_latitude,dropoff_longitude,"
    "dropoff_latitude,passenger_count"
)
PIZZA = [
    "giver_username_if_known", "number_of_downvotes_of_request_at_retrieval",
    "number_of_upvotes_of_request_at_retrieval", "post_was_edited", "request_id",
    "request_number_of_comments_at_retrieval", "request_text", "request_text_edit_aware",
    "request_title", "requester_account_age_in_days_at_request",
    "requester_account_age_in_days_at_retrieval", "requester_number_of_posts_at_request",
    "requester_received_pizza", "requester_subreddits_at_request", "requester_user_flair",
    "requester_username", "unix_timestamp_of_request", "unix_timestamp_of_request_utc",
]
PIZZA_TRAIN_ONLY = tuple(c for c in PIZZA if c.endswith("_at_retrieval")) + (
    "post_was_edited", "request_text", "requester_user_flair",
)
TPS_DEC = [
    "Id", "Elevation", "Aspect", "Slope", "Horizontal_Distance_To_Hydrology",
    "Vertical_Distance_To_Hydrology", "Horizontal_Distance_To_Roadways", "Hillshade_9am",
    "Hillshade_Noon", "Hillshade_3pm", "Horizontal_Distance_To_Fire_Points",
    *cols("Wilderness_Area", 4, 1), *cols("Soil_Type", 40, 1), "Cover_Type",
]
VENT = "id,breath_id,R,C,time_step,u_in,u_out,pressure"
S3E1 = "id,MedInc,HouseAge,AveRooms,AveBedrms,Population,AveOccup,Latitude,Longitude,MedHouseVal"
S3E2 = (
    "id,gender,age,hypertension,heart_disease,ever_married,work_type,Residence_type,"
    "avg_glucose_level,bmi,smoking_status,stroke"
)
S3E3 = (
    "id,Age,BusinessTravel,DailyRate,Department,DistanceFromHome,Education,EducationField,"
    "EmployeeCount,EnvironmentSatisfaction,Gender,HourlyRate,JobInvolvement,JobLevel,JobRole,"
    "JobSatisfaction,MaritalStatus,MonthlyIncome,MonthlyRate,NumCompaniesWorked,Over18,OverTime,"
    "PercentSalaryHike,PerformanceRating,RelationshipSatisfaction,StandardHours,StockOptionLevel,"
    "TotalWorkingYears,TrainingTimesLastYear,WorkLifeBalance,YearsAtCompany,YearsInCurrentRole,"
    "YearsSinceLastPromotion,YearsWithCurrManager,Attrition"
)
S3E5 = (
    "Id,fixed acidity,volatile acidity,citric acid,residual sugar,chlorides,free sulfur dioxide,"
    "total sulfur dioxide,density,pH,sulphates,alcohol,quality"
)
S3E6 = (
    "id,squareMeters,numberOfRooms,hasYard,hasPool,floors,cityCode,cityPartRange,numPrevOwners,"
    "made,isNewBuilt,hasStormProtector,basement,attic,garage,hasStorageRoom,hasGuestRoom,price"
)
S3E7 = (
    "id,no_of_adults,no_of_children,no_of_weekend_nights,no_of_week_nights,type_of_meal_plan,"
    "required_car_parking_space,room_type_reserved,lead_time,arrival_year,arrival_month,"
    "arrival_date,market_segment_type,repeated_guest,no_of_previous_cancellations,"
    "no_of_previous_bookings_not_canceled,avg_price_per_room,no_of_special_requests,booking_status"
)
S3E9 = (
    "id,CementComponent,BlastFurnaceSlag,FlyAshComponent,WaterComponent,SuperplasticizerComponent,"
    "CoarseAggregateComponent,FineAggregateComponent,AgeInDays,Strength"
)
S3E10 = (
    "id,Mean_Integrated,SD,EK,Skewness,Mean_DMSNR_Curve,SD_DMSNR_Curve,EK_DMSNR_Curve,"
    "Skewness_DMSNR_Curve,Class"
)
S3E11 = (
    "id,store_sales(in millions),unit_sales(in millions),total_children,num_children_at_home,"
    "avg_cars_at home(approx).1,recyclable_package,low_fat,coffee_bar,video_store,salad_bar,"
    "prepared_food,florist,store_sqft,cost"
)
S3E13 = ["id", "sudden_fever", "headache", "mouth_bleed", "nose_bleed", "muscle_pain", "joint_pain", "vomiting", "rash", "prognosis"]
S3E14 = (
    "id,clonesize,honeybee,bumbles,andrena,osmia,MaxOfUpperTRange,MinOfUpperTRange,"
    "AverageOfUpperTRange,MaxOfLowerTRange,MinOfLowerTRange,AverageOfLowerTRange,RainingDays,"
    "AverageRainingDays,fruitset,fruitmass,seeds,yield"
)
S3E16 = "id,Sex,Length,Diameter,Height,Weight,Shucked Weight,Viscera Weight,Shell Weight,Age"
S3E17 = (
    "id,Product ID,Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],"
    "Torque [Nm],Tool wear [min],Machine failure,TWF,HDF,PWF,OSF,RNF"
)
S3E18 = ["id", "BertzCT", "Chi1", "Chi1n", "Chi1v", "Chi2n", "Chi2v", "Chi3v", "Chi4n", "EState_VSA1",
         "EState_VSA2", "ExactMolWt", "FpDensityMorgan1", "HallKierAlpha", "Kappa3", "MaxAbsEStateIndex",
         "MinEStateIndex", "NumHeteroatoms", "PEOE_VSA10", "SMR_VSA10", "SlogP_VSA3", "TPSA", "fr_COO",
         "EC1", "EC2", "EC3", "EC4", "EC5", "EC6"]
S3E20 = (
    "ID_LAT_LON_YEAR_WEEK,latitude,longitude,year,week_no,SulphurDioxide_SO2_column_number_density,"
    "CarbonMonoxide_CO_column_number_density,NitrogenDioxide_NO2_column_number_density,"
    "Ozone_O3_column_number_density,Cloud_cloud_fraction,emission"
)
S3E22 = (
    "id,surgery,age,hospital_number,rectal_temp,pulse,respiratory_rate,temp_of_extremities,"
    "peripheral_pulse,mucous_membrane,capillary_refill_time,pain,peristalsis,abdominal_distention,"
    "nasogastric_tube,nasogastric_reflux,nasogastric_reflux_ph,rectal_exam_feces,abdomen,"
    "packed_cell_volume,total_protein,abdomo_appearance,abdomo_protein,surgical_lesion,lesion_1,"
    "lesion_2,lesion_3,cp_data,outcome"
)
S3E23 = (
    "id,loc,v(g),ev(g),iv(g),n,v,l,d,i,e,b,t,lOCode,lOComment,lOBlank,locCodeAndComment,uniq_Op,"
    "uniq_Opnd,total_Op,total_Opnd,branchCount,defects"
)
S3E24 = (
    "id,age,height(cm),weight(kg),waist(cm),eyesight(left),eyesight(right),hearing(left),"
    "hearing(right),systolic,relaxation,fasting blood sugar,Cholesterol,triglyceride,HDL,LDL,"
    "hemoglobin,Urine protein,serum creatinine,AST,ALT,Gtp,dental caries,smoking"
)
S4E1 = (
    "id,CustomerId,Surname,CreditScore,Geography,Gender,Age,Tenure,Balance,NumOfProducts,"
    "HasCrCard,IsActiveMember,EstimatedSalary,Exited"
)
S4E2 = (
    "id,Gender,Age,Height,Weight,family_history_with_overweight,FAVC,FCVC,NCP,CAEC,SMOKE,CH2O,"
    "SCC,FAF,TUE,CALC,MTRANS,NObeyesdad"
)
S4E3 = [
    "id", "X_Minimum", "X_Maximum", "Y_Minimum", "Y_Maximum", "Pixels_Areas", "X_Perimeter",
    "Y_Perimeter", "Sum_of_Luminosity", "Minimum_of_Luminosity", "Maximum_of_Luminosity",
    "Length_of_Conveyer", "TypeOfSteel_A300", "TypeOfSteel_A400", "Steel_Plate_Thickness",
    "Edges_Index", "Empty_Index", "Square_Index", "Outside_X_Index", "Edges_X_Index",
    "Edges_Y_Index", "Outside_Global_Index", "LogOfAreas", "Log_X_Index", "Log_Y_Index",
    "Orientation_Index", "Luminosity_Index", "SigmoidOfAreas", *STEEL,
]
S4E4 = "id,Sex,Length,Diameter,Height,Whole weight,Whole weight.1,Whole weight.2,Shell weight,Rings"
S4E5 = [
    "id", "MonsoonIntensity", "TopographyDrainage", "RiverManagement", "Deforestation",
    "Urbanization", "ClimateChange", "DamsQuality", "Siltation", "AgriculturalPractices",
    "Encroachments", "IneffectiveDisasterPreparedness", "DrainageSystems",
    "CoastalVulnerability", "Landslides", "Watersheds", "DeterioratingInfrastructure",
    "PopulationScore", "WetlandLoss", "InadequatePlanning", "PoliticalFactors", "FloodProbability",
]
S4E6 = [
    "id", "Marital status", "Application mode", "Application order", "Course",
    "Daytime/evening attendance", "Previous qualification", "Previous qualification (grade)",
    "Nacionality", "Mother's qualification", "Father's qualification", "Admission grade",
    "Displaced", "Debtor", "Tuition fees up to date", "Gender", "Scholarship holder",
    "Age at enrollment", "Unemployment rate", "Inflation rate", "GDP", "Target",
]
AUG22 = ["id", "product_code", "loading", *cols("attribute_", 4), *cols("measurement_", 18), "failure"]
CAT = ["id", *cols("bin_", 5), *cols("nom_", 10), *cols("ord_", 6), "day", "month", "target"]
BIKE = "datetime,season,holiday,workingday,weather,temp,atemp,humidity,windspeed,casual,registered,count"
TMDB = (
    "id,belongs_to_collection,budget,genres,homepage,imdb_id,original_language,original_title,"
    "overview,popularity,poster_path,production_companies,production_countries,release_date,"
    "runtime,spoken_languages,status,tagline,title,Keywords,cast,crew,revenue"
)
MALWARE = [
    "MachineIdentifier", "ProductName", "EngineVersion", "AppVersion", "AvSigVersion", "IsBeta",
    "RtpStateBitfield", "IsSxsPassiveMode", "AVProductsInstalled", "CountryIdentifier",
    "OrganizationIdentifier", "Platform", "Processor", "OsVer", "OsBuild", "SmartScreen",
    "Census_OSVersion", "Census_IsTouchEnabled", "Wdft_IsGameMode", "HasDetections",
]
KOBE = (
    "action_type,combined_shot_type,game_event_id,game_id,lat,loc_x,loc_y,lon,minutes_remaining,"
    "period,playoffs,season,seconds_remaining,shot_distance,shot_made_flag,shot_type,"
    "shot_zone_area,shot_zone_basic,shot_zone_range,team_id,team_name,game_date,matchup,"
    "opponent,shot_id"
)
AMAZON = (
    "ACTION,RESOURCE,MGR_ID,ROLE_ROLLUP_1,ROLE_ROLLUP_2,ROLE_DEPTNAME,ROLE_TITLE,"
    "ROLE_FAMILY_DESC,ROLE_FAMILY,ROLE_CODE"
)
POKER = "S1,C1,S2,C2,S3,C3,S4,C4,S5,C5,hand"
CREDIT = (
    "Unnamed: 0,SeriousDlqin2yrs,RevolvingUtilizationOfUnsecuredLines,age,"
    "NumberOfTime30-59DaysPastDueNotWorse,DebtRatio,MonthlyIncome,NumberOfOpenCreditLinesAndLoans,"
    "NumberOfTimes90DaysLate,NumberRealEstateLoansOrLines,NumberOfTime60-89DaysPastDueNotWorse,"
    "NumberOfDependents"
)
FOREST = TPS_DEC
SBER = "id,timestamp,full_sq,life_sq,floor,max_floor,material,build_year,num_room,kitch_sq,state,product_type,sub_area,price_doc"
REDHAT = ["people_id", "activity_id", "date", "activity_category", *cols("char_", 10, 1), "outcome"]
KICKED = (
    "RefId,IsBadBuy,PurchDate,Auction,VehYear,VehicleAge,Make,Model,Trim,SubModel,Color,"
    "Transmission,WheelTypeID,WheelType,VehOdo,Nationality,Size,TopThreeAmericanName,"
    "MMRAcquisitionAuctionAveragePrice,BYRNO,VNZIP1,VNST,VehBCost,IsOnlineSale,WarrantyCost"
)
HOMESITE = ["QuoteNumber", "Original_Quote_Date", "QuoteConversion_Flag", "Field6", "Field7", "Field8",
            "CoverageField1A", "CoverageField1B", "SalesField1A", "PersonalField1", "PropertyField1A",
            "GeographicField1A", "GeographicField64"]
HOMEDEPOT = "id,product_uid,product_title,search_term,relevance"
NYC_TRIP = (
    "id,vendor_id,pickup_datetime,dropoff_datetime,passenger_count,pickup_longitude,"
    "pickup_latitude,dropoff_longitude,dropoff_latitude,store_and_fwd_flag,trip_duration"
)
ALLSTATE = ["id", *cols("cat", 116, 1), *cols("cont", 14, 1), "loss"]
PUBG = [
    "Id", "groupId", "matchId", "assists", "boosts", "damageDealt", "DBNOs", "headshotKills",
    "heals", "killPlace", "killPoints", "kills", "killStreaks", "longestKill", "matchDuration",
    "matchType", "maxPlace", "numGroups", "rankPoints", "revives", "rideDistance", "roadKills",
    "swimDistance", "teamKills", "vehicleDestroys", "walkDistance", "weaponsAcquired",
    "winPoints", "winPlacePerc",
]
AFSIS = ["PIDN", "m7497.96", "m7496.04", "m7494.11", "m599.76", "BSAN", "BSAS", "BSAV", "CTI", "ELEV",
         "EVI", "LSTD", "LSTN", "REF1", "REF2", "REF3", "REF7", "RELI", "TMAP", "TMFI", "Depth",
         "Ca", "P", "pH", "SOC", "Sand"]
LMSYS = "id,model_a,model_b,prompt,response_a,response_b,winner_model_a,winner_model_b,winner_tie"
ONE_HOT3 = {"winner_model_a": "onehot0", "winner_model_b": "onehot1", "winner_tie": "onehot2"}

LAYOUTS: dict[str, Layout] = {
    # ---- MLE-Lite
    "aerial-cactus-identification": lay(
        "id", "id,has_cactus", {"has_cactus": BIN}, test=None, values={"id": "jpgname"}, files="train/{id}"
    ),
    "aptos2019-blindness-detection": lay(
        "id_code", "id_code,diagnosis", {"diagnosis": INT5}, values={"id_code": HEX},
        files="train_images/{id_code}.png",
    ),
    "detecting-insults-in-social-commentary": lay(
        "id", "Insult,Date,Comment", {"Insult": BIN}, no_id=True, sample="sample_submission_null.csv",
        values={"Comment": TEXT, "Date": TEXT},
    ),
    "dog-breed-identification": lay(
        "id", "id,breed", {"breed": cls("affenpinscher", "beagle", "boston_bull", "chow")}, train="labels.csv",
        test=None, sample_classes=True, values={"id": HEX}, files="train/{id}.jpg",
    ),
    "histopathologic-cancer-detection": lay(
        "id", "id,label", {"label": BIN}, train="train_labels.csv", test=None, values={"id": HEX},
        files="train/{id}.tif",
    ),
    "jigsaw-toxic-comment-classification-challenge": lay(
        "id", ["id", "comment_text", *JIGSAW], {c: BIN for c in JIGSAW}, values={"id": HEX, "comment_text": TEXT}
    ),
    "leaf-classification": lay(
        "id", LEAF, {"species": cls("Acer_Capillipes", "Acer_Circinatum", "Quercus_Rubra")}, sample_classes=True,
        files="images/{id}.jpg",
    ),
    "new-york-city-taxi-fare-prediction": lay(
        "key", TAXI, {"fare_amount": POS}, values={"key": DATE, "pickup_datetime": DATE}, rows=400
    ),
    "nomad2018-predict-transparent-conductors": lay(
        "id", NOMAD, {"formation_energy_ev_natom": POS, "bandgap_energy_ev": POS}, files="train/{id}/geometry.xyz"
    ),
    "plant-pathology-2020-fgvc7": lay(
        "image_id", "image_id,healthy,multiple_diseases,rust,scab",
        {"healthy": BIN, "multiple_diseases": BIN, "rust": BIN, "scab": BIN},
        values={"image_id": "Train_"}, files="images/{image_id}.jpg",
    ),
    "random-acts-of-pizza": lay(
        "request_id", PIZZA, {"requester_received_pizza": BOOL}, train="train.json", test="test.json",
        sample="sampleSubmission.csv", train_only=PIZZA_TRAIN_ONLY, values={"request_id": "t3_", "request_text": TEXT},
    ),
    "ranzcr-clip-catheter-line-classification": lay(
        "StudyInstanceUID", ["StudyInstanceUID", *RANZCR, "PatientID"], {c: BIN for c in RANZCR}, test=None,
        train_only=("PatientID",), values={"StudyInstanceUID": "1.2.826.0.1.", "PatientID": HEX},
        files="train/{StudyInstanceUID}.jpg", extra={"train_annotations.csv": "StudyInstanceUID,label,data"},
    ),
    "spooky-author-identification": lay(
        "id", "id,text,author", {"author": cls("EAP", "HPL", "MWS")}, sample_classes=True,
        values={"id": "id", "text": TEXT},
    ),
    "tabular-playground-series-dec-2021": lay("Id", TPS_DEC, {"Cover_Type": cls("1", "2", "3", "7")}),
    "tabular-playground-series-may-2022": lay(
        "id", ["id", *[f"f_{i:02d}" for i in range(31)], "target"], {"target": BIN}, values={"f_27": TEXT}
    ),
    # ---- MLE-Dojo Tabular
    "demand-forecasting-kernels-only": lay(
        "id", "date,store,item,sales", {"sales": POS}, no_id=True, values={"date": DATE}
    ),
    "dont-overfit-ii": lay("id", ["id", "target", *cols("", 300)], {"target": BIN}),
    "instant-gratification": lay(
        "id", ["id", "muggy-smalt-axolotl-pembus", "dorky-peach-sheepdog-ordinal", "wheezy-copper-turtle-magic", "target"],
        {"target": BIN}, values={"id": HEX},
    ),
    "liverpool-ion-switching": lay("time", "time,signal,open_channels", {"open_channels": INT5}, values={"time": "time"}),
    "porto-seguro-safe-driver-prediction": lay(
        "id", ["id", "target", "ps_ind_01", "ps_ind_02_cat", "ps_reg_01", "ps_car_01_cat", "ps_calc_01", "ps_calc_15_bin"],
        {"target": BIN},
    ),
    "santander-customer-satisfaction": lay(
        "ID", ["ID", "var3", "var15", "imp_ent_var16_ult1", "saldo_var30", "var38", "TARGET"], {"TARGET": BIN}
    ),
    "santander-customer-transaction-prediction": lay(
        "ID_code", ["ID_code", "target", *cols("var_", 200)], {"target": BIN}, values={"ID_code": "train_"}
    ),
    "santander-value-prediction-challenge": lay(
        "ID", ["ID", "target", "48df886f9", "0deb4b6a8", "34b15f335", "a8cb14b00"], {"target": POS}, values={"ID": HEX}
    ),
    "ventilator-pressure-prediction": lay("id", VENT, {"pressure": FLOAT}, values={"breath_id": "group8", "u_out": BIN}),
    # ---- NLP / CV
    "quora-question-pairs": lay(
        "id", "id,qid1,qid2,question1,question2,is_duplicate", {"is_duplicate": BIN}, test_id="test_id",
        train_only=("qid1", "qid2"), values={"question1": TEXT, "question2": TEXT},
    ),
    "stumbleupon": lay(
        "urlid", "url,urlid,boilerplate,alchemy_category,alchemy_category_score,avglinksize,label", {"label": BIN},
        train="train.tsv", test="test.tsv", sample="sampleSubmission.csv", values={"boilerplate": TEXT, "url": TEXT},
    ),
    "20-newsgroups-ciphertext-challenge": lay(
        "Id", "Id,difficulty,ciphertext,target", {"target": INT5}, values={"Id": "ID_", "ciphertext": TEXT}
    ),
    "kaggle-llm-science-exam": lay(
        "id", "id,prompt,A,B,C,D,E,answer", {"answer": cls("A", "B", "C", "D", "E")},
        sample_names={"answer": "prediction"}, values={"prompt": TEXT, "A": TEXT, "B": TEXT},
    ),
    "lmsys-chatbot-arena": lay("id", LMSYS, ONE_HOT3, values={"prompt": TEXT, "model_a": TEXT}),
    "quora-insincere-questions-classification": lay(
        "qid", "qid,question_text,target", {"target": BIN}, values={"qid": HEX, "question_text": TEXT}
    ),
    "cassava-leaf-disease-classification": lay(
        "image_id", "image_id,label", {"label": INT5}, test=None, values={"image_id": "jpgname"},
        files="train_images/{image_id}",
    ),
    "petfinder-pawpularity-score": lay(
        "Id", "Id,Subject Focus,Eyes,Face,Near,Action,Accessory,Group,Collage,Human,Occlusion,Info,Blur,Pawpularity",
        {"Pawpularity": POS}, values={"Id": HEX}, files="train/{Id}.jpg",
    ),
    "whale-categorization-playground": lay(
        "Image", "Image,Id", {"Id": cls("new_whale", "w_1287fbc", "w_98baff9", "w_7554f44")}, test=None,
        values={"Image": "jpgname"}, files="train/{Image}",
    ),
    # ---- MLE-bench, tabular and text
    "mercedes-benz-greener-manufacturing": lay("ID", ["ID", "y", "X0", "X1", "X8", "X10", "X385"], {"y": POS}),
    "kobe-bryant-shot-selection": lay(
        "shot_id", KOBE, {"shot_made_flag": BIN}, train="data.csv", test=None, unlabelled_rows=True,
        values={"action_type": TEXT, "game_date": DATE},
    ),
    "home-data-for-ml-course": lay(
        "Id", "Id,MSSubClass,MSZoning,LotFrontage,LotArea,Street,YearBuilt,SaleCondition,SalePrice",
        {"SalePrice": POS}, extra={"data_description.txt": "MSSubClass: Identifies the type of dwelling"},
    ),
    "liberty-mutual-group-property-inspection-prediction": lay(
        "Id", ["Id", "Hazard", *cols("T1_V", 17, 1), *cols("T2_V", 15, 1)], {"Hazard": POS}
    ),
    "prudential-life-insurance-assessment": lay(
        "Id", "Id,Product_Info_1,Product_Info_2,Ins_Age,Ht,Wt,BMI,Medical_Keyword_48,Response",
        {"Response": cls("1", "2", "3", "8")},
    ),
    "amazon-employee-access-challenge": lay(
        "id", AMAZON, {"ACTION": BIN}, no_id=True, sample="sampleSubmission.csv", sample_names={"ACTION": "Action"}
    ),
    "poker-rule-induction": lay("id", POKER, {"hand": INT5}, no_id=True, sample="sampleSubmission.csv"),
    "GiveMeSomeCredit": lay(
        "Unnamed: 0", CREDIT, {"SeriousDlqin2yrs": BIN}, train="cs-training.csv", test="cs-test.csv",
        sample="sampleEntry.csv", sample_names={"SeriousDlqin2yrs": "Probability"},
    ),
    "forest-cover-type-kernels-only": lay("Id", FOREST, {"Cover_Type": cls("1", "2", "5")}),
    "sberbank-russian-housing-market": lay(
        "id", SBER, {"price_doc": POS}, values={"timestamp": DATE, "sub_area": TEXT},
        extra={"macro.csv": "timestamp,oil_urals,gdp_quart"},
    ),
    "predicting-red-hat-business-value": lay(
        "activity_id", REDHAT, {"outcome": BIN}, train="act_train.csv", test="act_test.csv",
        values={"activity_id": "act2_", "people_id": TEXT, "date": DATE},
        extra={"people.csv": "people_id,char_1,group_1,date"},
    ),
    "DontGetKicked": lay("RefId", KICKED, {"IsBadBuy": BIN}, train="training.csv", sample="example_entry.csv"),
    "bioresponse": lay(
        "MoleculeId", ["Activity", *cols("D", 30, 1)], {"Activity": BIN}, no_id=True, test_has_id=False,
        sample="svm_benchmark.csv",
        sample_names={"Activity": "PredictedProbability"},
    ),
    "homesite-quote-conversion": lay("QuoteNumber", HOMESITE, {"QuoteConversion_Flag": BIN}),
    "home-depot-product-search-relevance": lay(
        "id", HOMEDEPOT, {"relevance": POS}, values={"product_title": "latin1", "search_term": TEXT},
        extra={"product_descriptions.csv": "product_uid,product_description", "attributes.csv": "product_uid,name,value"},
    ),
    "nyc-taxi-trip-duration": lay(
        "id", NYC_TRIP, {"trip_duration": POS}, train_only=("dropoff_datetime",),
        values={"id": "id", "pickup_datetime": DATE, "dropoff_datetime": DATE},
    ),
    "bnp-paribas-cardif-claims-management": lay("ID", ["ID", "target", *cols("v", 131, 1)], {"target": BIN}),
    "allstate-claims-severity": lay("id", ALLSTATE, {"loss": POS}),
    "facebook-recruiting-iv-human-or-bot": lay(
        "bidder_id", "bidder_id,payment_account,address,outcome", {"outcome": BIN}, sample="sampleSubmission.csv",
        sample_names={"outcome": "prediction"}, values={"bidder_id": HEX, "payment_account": HEX, "address": HEX},
        extra={"bids.csv": "bid_id,bidder_id,auction,merchandise,device,time,country,ip,url"},
    ),
    "loan-default-prediction": lay(
        "id", ["id", *cols("f", 40, 1), "loss"], {"loss": POS}, train="train_v2.csv", test="test_v2.csv",
        sample="sampleSubmission.csv",
    ),
    "pubg-finish-placement-prediction": lay(
        "Id", PUBG, {"winPlacePerc": FLOAT}, train="train_V2.csv", test="test_V2.csv",
        sample="sample_submission_V2.csv", values={"Id": HEX, "groupId": HEX, "matchId": "group8", "matchType": TEXT},
    ),
    "afsis-soil-properties": lay(
        "PIDN", AFSIS, {c: FLOAT for c in ["Ca", "P", "pH", "SOC", "Sand"]}, train="training.csv",
        test="sorted_test.csv", values={"PIDN": HEX, "Depth": TEXT},
    ),
    "novozymes-enzyme-stability-prediction": lay(
        "seq_id", "seq_id,protein_sequence,pH,data_source,tm", {"tm": FLOAT},
        values={"protein_sequence": TEXT, "data_source": TEXT},
    ),
    "movie-review-sentiment-analysis-kernels-only": lay(
        "PhraseId", "PhraseId,SentenceId,Phrase,Sentiment", {"Sentiment": INT5}, train="train.tsv",
        test="test.tsv", sample="sampleSubmission.csv", values={"SentenceId": "group8", "Phrase": TEXT},
    ),
    "statoil-iceberg-classifier-challenge": lay(
        "id", "id,band_1,band_2,inc_angle,is_iceberg", {"is_iceberg": BIN}, train="train.json", test="test.json",
        values={"id": HEX, "band_1": "list", "band_2": "list"},
    ),
    "sf-crime": lay(
        "Id", "Dates,Category,Descript,DayOfWeek,PdDistrict,Resolution,Address,X,Y",
        {"Category": cls("ARSON", "LARCENY/THEFT", "VEHICLE THEFT", "WARRANTS")}, no_id=True,
        train_only=("Descript", "Resolution"), sample="sampleSubmission.csv", sample_classes=True,
        values={"Dates": DATE, "Descript": TEXT, "Address": TEXT},
    ),
    "grupo-bimbo-inventory-demand": lay(
        "id",
        "Semana,Agencia_ID,Canal_ID,Ruta_SAK,Cliente_ID,Producto_ID,Venta_uni_hoy,Venta_hoy,"
        "Dev_uni_proxima,Dev_proxima,Demanda_uni_equil",
        {"Demanda_uni_equil": POS}, no_id=True, values={"Semana": "group8"},
        train_only=("Venta_uni_hoy", "Venta_hoy", "Dev_uni_proxima", "Dev_proxima"),
        extra={"cliente_tabla.csv": "Cliente_ID,NombreCliente", "producto_tabla.csv": "Producto_ID,NombreProducto",
               "town_state.csv": "Agencia_ID,Town,State"},
    ),
    "llm-classification-finetuning": lay("id", LMSYS, ONE_HOT3, values={"prompt": TEXT, "model_b": TEXT}),
    # ---- DSBench
    "titanic": lay("PassengerId", TITANIC, {"Survived": BIN}, sample="gender_submission.csv", values={"Name": TEXT}),
    "spaceship-titanic": lay(
        "PassengerId", SPACESHIP, {"Transported": BOOL}, values={"PassengerId": "0001_0", "CryoSleep": BOOL, "Name": TEXT}
    ),
    "bike-sharing-demand": lay(
        "datetime", BIKE, {"count": POS}, sample="sampleSubmission.csv", train_only=("casual", "registered"),
        values={"datetime": DATE},
    ),
    "cat-in-the-dat": lay("id", CAT, {"target": BIN}, values={"nom_5": HEX}),
    "cat-in-the-dat-ii": lay("id", CAT, {"target": BIN}, values={"nom_9": HEX}),
    "covid19-global-forecasting-week-1": lay("Id", COVID_OLD, COVID_Y, **COVID_KW),
    "covid19-global-forecasting-week-2": lay("Id", COVID, COVID_Y, **COVID_KW),
    "covid19-global-forecasting-week-3": lay("Id", COVID, COVID_Y, **COVID_KW),
    "covid19-global-forecasting-week-4": lay("Id", COVID, COVID_Y, **COVID_KW),
    "playground-series-s3e1": lay("id", S3E1, {"MedHouseVal": POS}),
    "playground-series-s3e2": lay("id", S3E2, {"stroke": BIN}, values={"gender": TEXT}),
    "playground-series-s3e3": lay("id", S3E3, {"Attrition": BIN}, values={"Department": TEXT}),
    "playground-series-s3e4": lay("id", ["id", "Time", *cols("V", 28, 1), "Amount", "Class"], {"Class": BIN}),
    "playground-series-s3e5": lay("Id", S3E5, {"quality": cls("3", "4", "5", "6", "7", "8")}),
    "playground-series-s3e6": lay("id", S3E6, {"price": POS}),
    "playground-series-s3e7": lay("id", S3E7, {"booking_status": BIN}),
    "playground-series-s3e8": lay("id", "id,carat,cut,color,clarity,depth,table,x,y,z,price", {"price": POS}, values={"cut": TEXT}),
    "playground-series-s3e9": lay("id", S3E9, {"Strength": POS}),
    "playground-series-s3e10": lay("id", S3E10, {"Class": BIN}),
    "playground-series-s3e11": lay("id", S3E11, {"cost": POS}),
    "playground-series-s3e12": lay("id", "id,gravity,ph,osmo,cond,urea,calc,target", {"target": BIN}),
    "playground-series-s3e13": lay(
        "id", S3E13, {"prognosis": cls("Lyme_disease", "Tungiasis", "Zika", "Rift_Valley_fever", "Dengue")}
    ),
    "playground-series-s3e14": lay("id", S3E14, {"yield": POS}),
    "playground-series-s3e16": lay("id", S3E16, {"Age": POS}, values={"Sex": TEXT}),
    "playground-series-s3e17": lay("id", S3E17, {"Machine failure": BIN}, values={"Product ID": TEXT}),
    "playground-series-s3e18": lay(
        "id", S3E18, {"EC1": BIN, "EC2": BIN}, train_only=("EC3", "EC4", "EC5", "EC6"),
        values={"EC3": BIN, "EC4": BIN, "EC5": BIN, "EC6": BIN},
    ),
    "playground-series-s3e19": lay("id", ["id", *SALES.split(",")], {"num_sold": POS}, values={"date": DATE, "country": TEXT}),
    "playground-series-s3e20": lay("ID_LAT_LON_YEAR_WEEK", S3E20, {"emission": POS}, values={"ID_LAT_LON_YEAR_WEEK": "ID_"}),
    "playground-series-s3e22": lay("id", S3E22, {"outcome": cls("died", "euthanized", "lived")}, values={"surgery": TEXT}),
    "playground-series-s3e23": lay("id", S3E23, {"defects": BOOL}),
    "playground-series-s3e24": lay("id", S3E24, {"smoking": BIN}),
    "playground-series-s4e1": lay("id", S4E1, {"Exited": BIN}, values={"Surname": TEXT, "Geography": TEXT}),
    "playground-series-s4e2": lay(
        "id", S4E2, {"NObeyesdad": cls("Insufficient_Weight", "Normal_Weight", "Obesity_Type_I", "Overweight_Level_I")},
        values={"Gender": TEXT},
    ),
    "playground-series-s4e3": lay("id", S4E3, {c: BIN for c in STEEL}),
    "playground-series-s4e4": lay("id", S4E4, {"Rings": POS}, values={"Sex": TEXT}),
    "playground-series-s4e5": lay("id", S4E5, {"FloodProbability": FLOAT}),
    "playground-series-s4e6": lay("id", S4E6, {"Target": cls("Dropout", "Enrolled", "Graduate")}),
    "tabular-playground-series-jan-2021": lay("id", ["id", *cols("cont", 14, 1), "target"], {"target": FLOAT}),
    "tabular-playground-series-feb-2021": lay(
        "id", ["id", *cols("cat", 10), *cols("cont", 14), "target"], {"target": FLOAT}, values={"cat0": TEXT}
    ),
    "tabular-playground-series-mar-2021": lay(
        "id", ["id", *cols("cat", 19), *cols("cont", 11), "target"], {"target": BIN}, values={"cat0": TEXT}
    ),
    "tabular-playground-series-apr-2021": lay("PassengerId", TITANIC, {"Survived": BIN}, values={"Name": TEXT}),
    "tabular-playground-series-jul-2021": lay(
        "date_time",
        ["date_time", "deg_C", "relative_humidity", "absolute_humidity", *cols("sensor_", 5, 1),
         "target_carbon_monoxide", "target_benzene", "target_nitrogen_oxides"],
        {"target_carbon_monoxide": POS, "target_benzene": POS, "target_nitrogen_oxides": POS},
        values={"date_time": DATE},
    ),
    "tabular-playground-series-aug-2021": lay("id", ["id", *cols("f", 100), "loss"], {"loss": POS}),
    "tabular-playground-series-sep-2021": lay("id", ["id", *cols("f", 118, 1), "claim"], {"claim": BIN}),
    "tabular-playground-series-oct-2021": lay("id", ["id", *cols("f", 285), "target"], {"target": BIN}),
    "tabular-playground-series-nov-2021": lay("id", ["id", *cols("f", 100), "target"], {"target": BIN}),
    "tabular-playground-series-jan-2022": lay("row_id", ["row_id", *SALES.split(",")], {"num_sold": POS}, values={"date": DATE}),
    "tabular-playground-series-feb-2022": lay(
        "row_id", ["row_id", "A0T0G0C10", "A0T0G1C9", "A10T0G0C0", "target"],
        {"target": cls("Bacteroides_fragilis", "Escherichia_coli", "Streptococcus_pyogenes")},
    ),
    "tabular-playground-series-mar-2022": lay(
        "row_id", "row_id,time,x,y,direction,congestion", {"congestion": POS}, values={"time": DATE, "direction": TEXT}
    ),
    "tabular-playground-series-aug-2022": lay("id", AUG22, {"failure": BIN}, values={"product_code": TEXT}),
    "tabular-playground-series-sep-2022": lay("row_id", ["row_id", *SALES.split(",")], {"num_sold": POS}, values={"date": DATE}),
    "tmdb-box-office-prediction": lay("id", TMDB, {"revenue": POS}, values={"genres": TEXT, "release_date": DATE}),
    "microsoft-malware-prediction": lay(
        "MachineIdentifier", MALWARE, {"HasDetections": BIN}, values={"MachineIdentifier": HEX, "ProductName": TEXT}
    ),
    "us-patent-phrase-to-phrase-matching": lay(
        "id", "id,anchor,target,context,score", {"score": FLOAT}, values={"id": HEX, "anchor": TEXT, "target": TEXT}
    ),
    "commonlitreadabilityprize": lay(
        "id", "id,url_legal,license,excerpt,target,standard_error", {"target": FLOAT}, train_only=("standard_error",),
        values={"id": HEX, "excerpt": TEXT},
    ),
    "learning-agency-lab-automated-essay-scoring-2": lay(
        "essay_id", "essay_id,full_text,score", {"score": cls("1", "2", "3", "4", "5", "6")},
        values={"essay_id": HEX, "full_text": TEXT},
    ),
    "nlp-getting-started": lay("id", "id,keyword,location,text,target", {"target": BIN}, values={"text": TEXT}),
    "feedback-prize-english-language-learning": lay(
        "text_id", ["text_id", "full_text", *ELL], {c: POS for c in ELL}, values={"text_id": HEX, "full_text": TEXT}
    ),
}

# ---- round two (issue 15): competitions from MLE-Dojo's, MLE-bench's and DSBench's lists
GQ = [
    *[f"question_{c}" for c in (
        "asker_intent_understanding", "body_critical", "conversational", "expect_short_answer", "fact_seeking",
        "has_commonly_accepted_answer", "interestingness_others", "interestingness_self", "multi_intent",
        "not_really_a_question", "opinion_seeking", "type_choice", "type_compare", "type_consequence",
        "type_definition", "type_entity", "type_instructions", "type_procedure", "type_reason_explanation",
        "type_spelling", "well_written")],
    *[f"answer_{c}" for c in (
        "helpful", "level_of_information", "plausible", "relevance", "satisfaction", "type_instructions",
        "type_procedure", "type_reason_explanation", "well_written")],
]
JIGSAW_IDENTITIES = [
    "male", "female", "homosexual_gay_or_lesbian", "christian", "jewish", "muslim", "black", "white",
    "psychiatric_or_mental_illness",
]
HMS = ["seizure_vote", "lpd_vote", "gpd_vote", "lrda_vote", "grda_vote", "other_vote"]
CROWDFLOWER = [*cols("s", 5, 1), *cols("w", 4, 1), *cols("k", 15, 1)]
LAYOUTS.update({
    "benchmark-bond-trade-price-challenge": lay(
        "id", "id,bond_id,trade_price,weight,current_coupon,time_to_maturity,is_callable,reporting_delay,"
        "trade_size,trade_type,curve_based_price,received_time_diff_last1,trade_price_last1",
        {"trade_price": POS}, train_only=("weight",), sample="random_forest_sample_submission.csv",
        values={"weight": POS},
    ),
    "crowdflower-weather-twitter": lay(
        "id", ["id", "tweet", "state", "location", *CROWDFLOWER], {c: POS for c in CROWDFLOWER},
        sample="sampleSubmission.csv", values={"tweet": TEXT, "state": TEXT, "location": TEXT},
    ),
    "dont-call-me-turkey": lay(
        "vid_id", "audio_embedding,is_turkey,vid_id,start_time_seconds_youtube_clip,end_time_seconds_youtube_clip",
        {"is_turkey": BIN}, train="train.json", test="test.json", values={"audio_embedding": "list", "vid_id": HEX},
    ),
    "icr-identify-age-related-conditions": lay(
        "Id", "Id,AB,AF,BQ,EJ,GL,Class", {"Class": cls("0", "1")}, sample_classes=True,
        values={"Id": HEX, "EJ": TEXT}, extra={"greeks.csv": "Id,Alpha,Beta,Gamma,Delta,Epsilon"},
    ),
    "linking-writing-processes-to-writing-quality": lay(
        "id", "id,score", {"score": POS}, train="train_scores.csv", test=None, values={"id": HEX},
        extra={"train_logs.csv": "id,event_id,down_time"},
    ),
    "llm-detect-ai-generated-text": lay(
        "id", "id,prompt_id,text,generated", {"generated": BIN}, train="train_essays.csv", test="test_essays.csv",
        values={"id": HEX, "text": TEXT}, extra={"train_prompts.csv": "prompt_id,prompt_name,instructions,source_text"},
    ),
    "playground-series-s3e25": lay(
        "id", ["id", "allelectrons_Total", "density_Total", "allelectrons_Average", "val_e_Average",
               "atomicweight_Average", "ionenergy_Average", "el_neg_chi_Average", "R_vdw_element_Average",
               "R_cov_element_Average", "zaratio_Average", "density_Average", "Hardness"], {"Hardness": POS},
    ),
    "rossmann-store-sales": lay(
        "Id", "Store,DayOfWeek,Date,Sales,Customers,Open,Promo,StateHoliday,SchoolHoliday", {"Sales": POS},
        no_id=True, train_only=("Customers",), values={"Date": DATE, "StateHoliday": TEXT},
        extra={"store.csv": "Store,StoreType,Assortment,CompetitionDistance"},
    ),
    "see-click-predict-fix": lay(
        "id", "id,latitude,longitude,summary,description,num_votes,num_comments,num_views,source,created_time,tag_type",
        {"num_views": POS, "num_votes": POS, "num_comments": POS}, sample="sampleSubmission.csv",
        values={"summary": TEXT, "created_time": DATE, "source": TEXT},
    ),
    "tweet-sentiment-extraction": lay(
        "textID", "textID,text,selected_text,sentiment", {"selected_text": TEXT},
        values={"textID": HEX, "text": TEXT, "sentiment": TEXT},
    ),
    "unimelb": lay(
        "Grant.Application.ID", "Grant.Application.ID,Grant.Status,Sponsor.Code,Grant.Category.Code,Start.date",
        {"Grant.Status": BIN}, train="unimelb_training.csv", test="unimelb_test.csv", sample="unimelb_example.csv",
        values={"Sponsor.Code": TEXT, "Start.date": DATE},
    ),
    "walmart-recruiting-store-sales-forecasting": lay(
        "Id", "Store,Dept,Date,Weekly_Sales,IsHoliday", {"Weekly_Sales": FLOAT}, no_id=True, test_has_id=False,
        sample="sampleSubmission.csv", values={"Date": DATE, "IsHoliday": BOOL},
        extra={"features.csv": "Store,Date,Temperature", "stores.csv": "Store,Type,Size"},
    ),
    "word2vec-nlp-tutorial": lay(
        "id", "id,sentiment,review", {"sentiment": BIN}, train="labeledTrainData.tsv", test="testData.tsv",
        sample="sampleSubmission.csv", values={"id": "id", "review": TEXT}, extra={"unlabeledTrainData.tsv": "id\treview"},
    ),
    "avazu-ctr-prediction": lay(
        "id", "id,click,hour,C1,banner_pos,site_id,site_domain,device_type", {"click": BIN}, train="train.gz",
        test="test.gz", sample="sampleSubmission.gz", values={"site_id": HEX, "site_domain": HEX},
    ),
    "ashrae-energy-prediction": lay(
        "row_id", "building_id,meter,timestamp,meter_reading", {"meter_reading": POS}, no_id=True,
        values={"timestamp": DATE},
        extra={"building_metadata.csv": "site_id,building_id,primary_use", "weather_train.csv": "site_id,timestamp,air_temperature",
               "weather_test.csv": "site_id,timestamp,air_temperature"},
    ),
    "google-quest-challenge": lay(
        "qa_id", ["qa_id", "question_title", "question_body", "answer", "category", "host", *GQ], {c: POS for c in GQ},
        values={"question_title": TEXT, "question_body": TEXT, "answer": TEXT, "category": TEXT, "host": TEXT},
    ),
    "invasive-species-monitoring": lay(
        "name", "name,invasive", {"invasive": BIN}, train="train_labels.csv", test=None, files="train/{name}.jpg"
    ),
    "nfl-player-contact-detection": lay(
        "contact_id", "contact_id,game_play,datetime,step,nfl_player_id_1,nfl_player_id_2,contact", {"contact": BIN},
        train="train_labels.csv", test=None, values={"contact_id": HEX, "game_play": "group8", "datetime": DATE},
    ),
    "plant-pathology-2021-fgvc8": lay(
        "image", "image,labels", {"labels": cls("healthy", "scab", "frog_eye_leaf_spot complex", "rust")}, test=None,
        values={"image": "jpgname"}, files="train_images/{image}",
    ),
    "predict-volcanic-eruptions-ingv-oe": lay(
        "segment_id", "segment_id,time_to_eruption", {"time_to_eruption": POS}, test=None, files="train/{segment_id}.csv"
    ),
    "siim-isic-melanoma-classification": lay(
        "image_name", "image_name,patient_id,sex,age_approx,anatom_site_general_challenge,diagnosis,benign_malignant,target",
        {"target": BIN}, train_only=("diagnosis", "benign_malignant"), files="jpeg/train/{image_name}.jpg",
        values={"image_name": "id", "patient_id": "group8", "sex": TEXT, "diagnosis": TEXT, "benign_malignant": TEXT},
    ),
    "rsna-miccai-brain-tumor-radiogenomic-classification": lay(
        "BraTS21ID", "BraTS21ID,MGMT_value", {"MGMT_value": BIN}, train="train_labels.csv", test=None,
        files="train/{BraTS21ID}",
    ),
    "seti-breakthrough-listen": lay(
        "id", "id,target", {"target": BIN}, train="train_labels.csv", test=None, values={"id": HEX},
        files="train/{id[0]}/{id}.npy",
    ),
    "hotel-id-2021-fgvc8": lay(
        "image", "image,chain,hotel_id,timestamp", {"hotel_id": cls("101", "202", "303", "404")}, test=None,
        values={"image": "jpgname", "chain": INT5, "timestamp": DATE}, files="train_images/{chain}/{image}",
    ),
    "bms-molecular-translation": lay(
        "image_id", "image_id,InChI", {"InChI": TEXT}, train="train_labels.csv", test=None, values={"image_id": HEX},
        files="train/{image_id[0]}/{image_id[1]}/{image_id[2]}/{image_id}.png",
    ),
    "facebook-recruiting-iii-keyword-extraction": lay(
        "Id", "Id,Title,Body,Tags", {"Tags": TEXT}, train="Train.csv", test="Test.csv", sample="SampleSubmission.csv",
        values={"Title": TEXT, "Body": TEXT},
    ),
    "chaii-hindi-and-tamil-question-answering": lay(
        "id", "id,context,question,answer_text,answer_start,language", {"answer_text": TEXT},
        train_only=("answer_start",), sample_names={"answer_text": "PredictionString"},
        values={"id": HEX, "context": TEXT, "question": TEXT, "language": TEXT},
    ),
    "iwildcam-2019-fgvc6": lay(
        "id", "category_id,date_captured,file_name,frame_num,id,location,rights_holder,seq_id,seq_num_frames,width,height",
        {"category_id": INT5}, sample_names={"category_id": "Predicted"}, files="train_images/{file_name}",
        values={"id": HEX, "file_name": "jpgname", "location": "group8", "date_captured": DATE, "rights_holder": TEXT,
                "seq_id": HEX},
    ),
    "tgs-salt-identification-challenge": lay(
        "id", "id,rle_mask", {"rle_mask": cls("1 20 102 20", "", "5 3", "300 101 505 7")}, test=None,
        values={"id": HEX}, files="train/images/{id}.png", extra={"depths.csv": "id,z"},
    ),
    "jigsaw-unintended-bias-in-toxicity-classification": lay(
        "id", ["id", "target", "comment_text", "severe_toxicity", "obscene", *JIGSAW_IDENTITIES, "created_date"],
        {"target": BIN}, train_only=("severe_toxicity", "obscene", *JIGSAW_IDENTITIES),
        values={"comment_text": TEXT, "created_date": DATE, **{c: BIN for c in JIGSAW_IDENTITIES}},
        sample_names={"target": "prediction"}, rows=200,
    ),
    "conways-reverse-game-of-life-2020": lay(
        # Kaggle's files have stop_0..stop_624 too; 25 of them keep the generated table small
        "id", ["id", "delta", *cols("start_", 625), *cols("stop_", 25)], {c: BIN for c in cols("start_", 625)},
        values={"delta": INT5, **{c: BIN for c in cols("stop_", 25)}}, rows=40,
    ),
    "hms-harmful-brain-activity-classification": lay(
        "eeg_id", ["eeg_id", "eeg_sub_id", "spectrogram_id", "label_id", "patient_id", "expert_consensus", *HMS],
        {c: INT5 for c in HMS}, values={"patient_id": "group8", "expert_consensus": TEXT},
        files="train_eegs/{eeg_id}.parquet",
    ),
    "imet-2020-fgvc7": lay(
        "id", "id,attribute_ids", {"attribute_ids": cls("13 405 896", "51 13", "1059", "79 813")}, test=None,
        values={"id": HEX}, files="train/{id}.png",
    ),
    "champs-scalar-coupling": lay(
        "id", "id,molecule_name,atom_index_0,atom_index_1,type,scalar_coupling_constant",
        {"scalar_coupling_constant": FLOAT}, values={"molecule_name": "group8", "type": INT5},
        extra={"structures.csv": "molecule_name,atom_index,atom,x,y,z"},
    ),
    "AI4Code": lay(
        "id", "id,cell_order", {"cell_order": cls("3a1f 9b2c 77de", "9b2c 3a1f", "d4e5 0a1b c2d3 e4f5")},
        train="train_orders.csv", test=None, values={"id": HEX}, files="train/{id}.json",
    ),
})

# ---- round three: parquet, masks, MLE-bench's development split, Kaggle's Playground Series
PG_SALES = "id,date,country,store,product,num_sold"
LAYOUTS.update({
    "wsdm-cup-multilingual-chatbot-arena": lay(
        "id", "id,prompt,response_a,response_b,winner,model_a,model_b,language", {"winner": cls("model_a", "model_b")},
        train="train.parquet", test="test.parquet", train_only=("model_a", "model_b", "language"),
        values={"id": HEX, "prompt": TEXT, "response_a": TEXT, "response_b": TEXT, "model_a": TEXT, "model_b": TEXT,
                "language": TEXT},
    ),
    "hubmap-kidney-segmentation": lay(
        "id", "id,encoding", {"encoding": cls("1 20 102 20", "", "5 3", "300 101 505 7")}, test=None,
        sample_names={"encoding": "predicted"}, values={"id": HEX}, files="train/{id}.tiff",
    ),
    "paddy-disease-classification": lay(
        "image_id", "image_id,label,variety,age", {"label": cls("blast", "hispa", "normal")}, test=None,
        train_only=("variety", "age"), values={"image_id": "jpgname", "variety": TEXT},
        files="train_images/{label}/{image_id}",
    ),
    "playground-series-s3e15": lay(
        "id", "id,author,geometry,pressure [MPa],mass_flux [kg/m2-s],x_e_out [-],D_e [mm],D_h [mm],length [mm],chf_exp [MW/m2]",
        {"x_e_out [-]": FLOAT}, train="data.csv", test=None, unlabelled_rows=True, values={"author": TEXT, "geometry": TEXT},
    ),
    "playground-series-s3e26": lay(
        "id", "id,N_Days,Drug,Age,Sex,Ascites,Bilirubin,Stage,Status", {"Status": cls("C", "CL", "D")},
        sample_classes=True, values={"Drug": TEXT, "Sex": TEXT},
    ),
    "playground-series-s4e7": lay(
        "id", "id,Gender,Age,Driving_License,Region_Code,Previously_Insured,Vehicle_Age,Vehicle_Damage,Annual_Premium,"
        "Policy_Sales_Channel,Vintage,Response", {"Response": BIN}, values={"Gender": TEXT, "Vehicle_Age": TEXT},
    ),
    "playground-series-s4e8": lay(
        "id", "id,class,cap-diameter,cap-shape,cap-surface,cap-color,stem-height,season", {"class": cls("e", "p")},
        values={"cap-shape": TEXT, "season": TEXT},
    ),
    "playground-series-s4e9": lay(
        "id", "id,brand,model,model_year,milage,fuel_type,engine,transmission,accident,clean_title,price",
        {"price": POS}, values={"brand": TEXT, "engine": TEXT},
    ),
    "playground-series-s4e10": lay(
        "id", "id,person_age,person_income,person_home_ownership,loan_intent,loan_grade,loan_amnt,loan_int_rate,"
        "cb_person_default_on_file,loan_status", {"loan_status": BIN}, values={"loan_intent": TEXT, "loan_grade": TEXT},
    ),
    "playground-series-s4e11": lay(
        "id", "id,Name,Gender,Age,City,Profession,Academic Pressure,Work Pressure,CGPA,Sleep Duration,Depression",
        {"Depression": BIN}, values={"Name": TEXT, "City": TEXT, "Sleep Duration": TEXT},
    ),
    "playground-series-s4e12": lay(
        "id", "id,Age,Gender,Annual Income,Occupation,Health Score,Policy Start Date,Customer Feedback,Premium Amount",
        {"Premium Amount": POS}, values={"Gender": TEXT, "Policy Start Date": DATE, "Customer Feedback": TEXT},
    ),
    "playground-series-s5e1": lay("id", PG_SALES, {"num_sold": POS}, values={"date": DATE, "country": TEXT}),
    "playground-series-s5e2": lay(
        "id", "id,Brand,Material,Size,Compartments,Laptop Compartment,Waterproof,Style,Color,Weight Capacity (kg),Price",
        {"Price": POS}, values={"Brand": TEXT, "Material": TEXT, "Color": TEXT},
    ),
    "playground-series-s5e3": lay(
        "id", "id,day,pressure,maxtemp,temparature,mintemp,dewpoint,humidity,cloud,sunshine,winddirection,windspeed,rainfall",
        {"rainfall": BIN},
    ),
    "playground-series-s5e4": lay(
        "id", "id,Podcast_Name,Episode_Title,Episode_Length_minutes,Genre,Host_Popularity_percentage,Publication_Day,"
        "Number_of_Ads,Episode_Sentiment,Listening_Time_minutes", {"Listening_Time_minutes": POS},
        values={"Podcast_Name": TEXT, "Episode_Title": TEXT, "Genre": TEXT},
    ),
    "playground-series-s5e5": lay(
        "id", "id,Sex,Age,Height,Weight,Duration,Heart_Rate,Body_Temp,Calories", {"Calories": POS}, values={"Sex": TEXT}
    ),
    "playground-series-s5e6": lay(
        "id", "id,Temparature,Humidity,Moisture,Soil Type,Crop Type,Nitrogen,Potassium,Phosphorous,Fertilizer Name",
        {"Fertilizer Name": cls("10-26-26", "14-35-14", "DAP", "Urea")}, values={"Soil Type": TEXT, "Crop Type": TEXT},
    ),
    "playground-series-s5e7": lay(
        "id", "id,Time_spent_Alone,Stage_fear,Social_event_attendance,Going_outside,Drained_after_socializing,"
        "Friends_circle_size,Post_frequency,Personality", {"Personality": cls("Extrovert", "Introvert")},
        values={"Stage_fear": TEXT, "Drained_after_socializing": TEXT},
    ),
    "playground-series-s5e8": lay(
        "id", "id,age,job,marital,education,default,balance,housing,loan,contact,day,month,duration,campaign,pdays,"
        "previous,poutcome,y", {"y": BIN}, values={"job": TEXT, "month": TEXT},
    ),
    "tabular-playground-series-may-2021": lay(
        "id", ["id", *cols("feature_", 50), "target"], {"target": cls("Class_1", "Class_2", "Class_3", "Class_4")},
        sample_classes=True,
    ),
    "tabular-playground-series-jun-2021": lay(
        "id", ["id", *cols("feature_", 75), "target"], {"target": cls(*[f"Class_{i}" for i in range(1, 10)])},
        sample_classes=True, rows=180,
    ),
    "kuzushiji-recognition": lay(
        "image_id", "image_id,labels",
        {"labels": cls("U+306F 10 10 20 20 U+304C 50 50 10 10", "", "U+3051 5 5 8 8", "U+306F 1 1 4 4 U+306F 30 30 4 4")},
        test=None, values={"image_id": HEX}, files="train_images/{image_id}.jpg", extra={"unicode_translation.csv": "Unicode,char"},
    ),
    "acquire-valued-shoppers-challenge": lay(
        "id", "id,chain,offer,market,repeattrips,repeater,offerdate", {"repeater": cls("t", "f")},
        train="trainHistory.csv.gz", test="testHistory.csv.gz", sample="sampleSubmission.csv.gz",
        train_only=("repeattrips",), sample_names={"repeater": "repeatProbability"}, values={"offerdate": DATE},
        extra={"offers.csv.gz": "offer,category,quantity,company,offervalue,brand",
               "transactions.csv.gz": "id,chain,dept,category,company,brand,date,productsize,productmeasure"},
    ),
    # ---- Kaggle's Getting Started competitions
    "digit-recognizer": lay(
        "ImageId", ["label", *cols("pixel", 20)], {"label": INT5}, no_id=True, test_has_id=False,
        sample_names={"label": "Label"},
    ),
    "store-sales-time-series-forecasting": lay(
        "id", "id,date,store_nbr,family,sales,onpromotion", {"sales": POS}, values={"date": DATE, "family": TEXT},
        extra={"oil.csv": "date,dcoilwtico", "holidays_events.csv": "date,type,locale", "stores.csv": "store_nbr,city,type",
               "transactions.csv": "date,store_nbr,transactions"},
    ),
    "contradictory-my-dear-watson": lay(
        "id", "id,premise,hypothesis,lang_abv,language,label", {"label": cls("0", "1", "2")},
        sample_names={"label": "prediction"},
        values={"id": HEX, "premise": TEXT, "hypothesis": TEXT, "lang_abv": TEXT, "language": TEXT},
    ),
    "house-prices-advanced-regression-techniques": lay(
        "Id", "Id,MSSubClass,MSZoning,LotArea,Street,YearBuilt,SaleCondition,SalePrice", {"SalePrice": POS},
        values={"MSZoning": TEXT, "Street": TEXT, "SaleCondition": TEXT},
        extra={"data_description.txt": "MSSubClass: Identifies the type of dwelling"},
    ),
    "tabular-playground-series-apr-2022": lay(
        "sequence", "sequence,state", {"state": BIN}, train="train_labels.csv", test=None,
        extra={"train.csv": "sequence,subject,step,sensor_00"},
    ),
})

WORDS = np.array("the quick brown fox jumps over lazy dog ñandú café".split())


def column_values(kind: object, n: int, rng: np.random.Generator, offset: int = 0) -> list:
    """n generated values of a kind (an id-like kind gives unique values from offset)."""
    if isinstance(kind, tuple):
        return list(np.resize(np.array(kind), n)[rng.permutation(n)])
    if isinstance(kind, str) and kind.startswith("onehot"):
        raise AssertionError("one-hot targets are generated together")
    i = np.arange(offset, offset + n)
    unique = {  # built only for the kind asked (most columns are numbers)
        HEX: lambda: [f"{(k * 2654435761) % 16**10:010x}" for k in i],
        "jpgname": lambda: [f"{(k * 2654435761) % 16**10:010x}.jpg" for k in i],
        "Train_": lambda: [f"Train_{k}" for k in i],
        "t3_": lambda: [f"t3_{k:x}" for k in i],
        "1.2.826.0.1.": lambda: [f"1.2.826.0.1.{k}" for k in i],
        "train_": lambda: [f"train_{k}" for k in i],
        "id": lambda: [f"id{k:05d}" for k in i],
        "ID_": lambda: [f"ID_{k}" for k in i],
        "act2_": lambda: [f"act2_{k}" for k in i],
        "0001_0": lambda: [f"{k:04d}_01" for k in i],
        "time": lambda: [f"{(k + 1) / 10000:.4f}" for k in i],
        DATE: lambda: [str(pd.Timestamp("2013-01-01") + pd.Timedelta(hours=int(k))) for k in i],
        "group8": lambda: [str(k // 8) for k in i],
    }
    if kind in unique:
        return unique[kind]()
    if kind == BIN:
        return list(rng.permutation(np.resize([0, 1], n)))
    if kind == BOOL:
        return list(rng.permutation(np.resize([True, False], n)))
    if kind == INT5:
        return list(rng.permutation(np.resize(np.arange(5), n)))
    if kind == POS:
        return list(rng.uniform(1, 100, n).round(3))
    if kind == TEXT:
        return [" ".join(rng.choice(WORDS, 4)) for _ in range(n)]
    if kind == "latin1":
        return [f"bois de santé {k}" for k in i]
    if kind == "list":
        return [list(rng.normal(size=4).round(3)) for _ in range(n)]
    return list(rng.normal(size=n).round(4))


def make_table(layout: Layout, n: int, rng: np.random.Generator, *, offset: int, labelled: bool) -> pd.DataFrame:
    table: dict[str, list] = {}
    onehot = [c for c, k in layout.targets.items() if isinstance(k, str) and k.startswith("onehot")]
    winner = rng.integers(0, len(onehot), n) if onehot else None
    for column in layout.columns:
        if column in layout.targets:
            if not labelled:
                continue
            kind = layout.targets[column]
            if column in onehot:
                table[column] = list((winner == int(str(kind)[6:])).astype(int))
            else:
                table[column] = column_values(kind, n, rng)
        elif column == layout.id:
            table[column] = column_values(layout.values.get(column, "int"), n, rng, offset) if column in layout.values else list(range(offset, offset + n))
        else:
            table[column] = column_values(layout.values.get(column, FLOAT), n, rng, offset)
    return pd.DataFrame(table)


def write_raw(name: str, raw: Path) -> Layout:
    """Write a small raw folder for `name` in its Kaggle file layout."""
    layout = LAYOUTS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    raw.mkdir(parents=True, exist_ok=True)
    train = make_table(layout, layout.rows, rng, offset=1, labelled=True)
    test = make_table(layout, 20, rng, offset=100_000, labelled=False)
    test = test.drop(columns=[c for c in layout.train_only if c in test.columns])
    if layout.no_id and layout.test_has_id:
        test.insert(0, layout.id, range(1, len(test) + 1))
    if layout.unlabelled_rows:  # test rows live in the same file with an empty target
        train = pd.concat([train, test.assign(**{t: np.nan for t in layout.targets})], ignore_index=True)
        train = train[layout.columns]
    if layout.test_id:
        test = test.rename(columns={layout.id: layout.test_id})
    blank_header = {"Unnamed: 0": ""}  # GiveMeSomeCredit's id column has no name in Kaggle's files
    save(train.rename(columns=blank_header), raw / layout.train)
    if layout.test:
        save(test.rename(columns=blank_header), raw / layout.test)
    test_ids = test[layout.test_id or layout.id] if layout.id in test or layout.test_id else pd.Series(range(1, 21))
    sample = pd.DataFrame({layout.test_id or layout.id: test_ids})
    if layout.sample_classes:
        for label in sorted(set(layout.targets[next(iter(layout.targets))])):  # type: ignore[arg-type]
            sample[label] = 0.25
    else:
        zeros = {layout.sample_names.get(target, target): 0 for target in layout.targets}
        sample = pd.concat([sample, pd.DataFrame(zeros, index=sample.index)], axis=1)
    save(sample, raw / layout.sample)
    if layout.files:
        for row in pd.concat([train, test.rename(columns={layout.test_id or layout.id: layout.id})]).to_dict("records"):
            path = raw / layout.files.format(**row)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\xff\xd8image " + str(row[layout.id]).encode())
    for side, header in layout.extra.items():
        ids = train[layout.id].head(5).astype(str).tolist() if layout.id in train else ["1"]
        body = "".join(f"{i},x,1\n" for i in ids) if side.startswith("train_") else "1,x,2\n"
        (raw / side).write_text(header + "\n" + body, encoding="utf-8")
    return layout


def save(table: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".json":
        path.write_text(table.to_json(orient="records"))
    elif path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    elif path.suffix == ".tsv":
        table.to_csv(path, sep="\t", index=False)
    else:
        table.to_csv(path, index=False, encoding="ISO-8859-1" if "home-depot" in str(path) else "utf-8")


def write_custom_raw(name: str, raw: Path) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    if name == "dogs-vs-cats-redux-kernels-edition":
        for folder, names in (("train", [f"{a}.{i}.jpg" for a in ("cat", "dog") for i in range(40)]),
                              ("test", [f"{i}.jpg" for i in range(1, 11)])):
            (raw / folder).mkdir()
            for file in names:
                (raw / folder / file).write_bytes(b"\xff\xd8" + file.encode())
        pd.DataFrame({"id": range(1, 11), "label": 0.5}).to_csv(raw / "sample_submission.csv", index=False)
        return
    lang = "en" if name.endswith("english-language") else "ru"
    rows = []
    for sentence in range(40):
        for token in range(4):
            before = ["Hello", "12", "km", "."][token]
            rows.append((sentence, token, ["PLAIN", "CARDINAL", "MEASURE", "PUNCT"][token], before,
                         {"12": "twelve", "km": "kilometers"}.get(before, before)))
    pd.DataFrame(rows, columns=["sentence_id", "token_id", "class", "before", "after"]).to_csv(
        raw / f"{lang}_train.csv", index=False)
    pd.DataFrame(rows[:8], columns=["sentence_id", "token_id", "class", "before", "after"])[
        ["sentence_id", "token_id", "before"]].to_csv(raw / f"{lang}_test_2.csv", index=False)
    pd.DataFrame({"id": ["0_0"], "after": ["Hello"]}).to_csv(raw / f"{lang}_sample_submission_2.csv", index=False)


CUSTOM_RAW = {
    "dogs-vs-cats-redux-kernels-edition",
    "text-normalization-challenge-english-language",
    "text-normalization-challenge-russian-language",
}


def write_round_two_custom_raw(name: str, raw: Path) -> None:
    """Raw folders for the round-two custom recipes (labels in folder or file names, image pairs...)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    raw.mkdir(parents=True, exist_ok=True)

    def touch(path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    if name == "the-nature-conservancy-fisheries-monitoring":
        fish = ["ALB", "BET", "DOL", "LAG", "NoF", "OTHER", "SHARK", "YFT"]
        for k, label in enumerate(fish):
            for i in range(5):
                touch(raw / "train" / label / f"img_{k * 10 + i:05d}.jpg", b"\xff\xd8" + label.encode())
        pd.DataFrame({"image": ["img_00001.jpg"], **{f: 0.125 for f in fish}}).to_csv(raw / "sample_submission_stg1.csv", index=False)
    elif name == "plant-seedlings-classification":
        for label in ("Black-grass", "Charlock", "Cleavers"):
            for i in range(6):
                touch(raw / "train" / label / f"{zlib.crc32(f'{label}{i}'.encode()):08x}.png", b"\x89PNG" + label.encode())
        pd.DataFrame({"file": ["x.png"], "species": ["Charlock"]}).to_csv(raw / "sample_submission.csv", index=False)
    elif name == "tensorflow-speech-recognition-challenge":
        for label in ("yes", "no", "up"):
            for i in range(6):
                touch(raw / "train" / "audio" / label / f"{i:08x}_nohash_0.wav", b"RIFF" + label.encode())
        touch(raw / "train" / "audio" / "_background_noise_" / "white_noise.wav", b"RIFF")
    elif name == "the-icml-2013-whale-challenge-right-whale-redux":
        for i in range(40):
            touch(raw / "train2" / f"20090328_000000_{i:03d}s0ms_TRAIN{i}_{i % 2}.aif", b"FORM" + bytes([i]))
        pd.DataFrame({"clip": ["x.aif"], "probability": [0.5]}).to_csv(raw / "sampleSubmission.csv", index=False)
    elif name == "denoising-dirty-documents":
        from PIL import Image

        for i in range(1, 11):
            clean = (rng.random((4, 5)) > 0.3).astype(np.uint8) * 255
            noisy = np.clip(clean.astype(int) - rng.integers(0, 60, (4, 5)), 0, 255).astype(np.uint8)
            for folder, pixels in (("train", noisy), ("train_cleaned", clean), ("test", noisy)):
                (raw / folder).mkdir(exist_ok=True)
                Image.fromarray(pixels).save(raw / folder / f"{i}.png")
    elif name == "integer-sequence-learning":
        rows = [(i, ",".join(str(i * k + k * k) for k in range(1, 2 + i % 7))) for i in range(1, 61)]
        pd.DataFrame(rows, columns=["Id", "Sequence"]).to_csv(raw / "train.csv", index=False)
        pd.DataFrame(rows[:5], columns=["Id", "Sequence"]).to_csv(raw / "test.csv", index=False)
        pd.DataFrame({"Id": [1], "Last": [0]}).to_csv(raw / "sample_submission.csv", index=False)
    elif name == "billion-word-imputation":
        lines = [" ".join(rng.choice(WORDS, 3 + i % 5)) + f" {i} ." for i in range(80)]
        (raw / "train_v2.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        pd.DataFrame({"id": [1], "sentence": ["the fox ."]}).to_csv(raw / "test_v2.txt", index=False)
    elif name == "bigquery-geotab-intersection-congestion":
        measured = [f"{kind}_p{p}" for kind in ("TotalTimeStopped", "TimeFromFirstStop", "DistanceToFirstStop")
                    for p in (20, 40, 50, 60, 80)]
        table = pd.DataFrame({
            "RowId": range(1, 101), "IntersectionId": np.arange(100) // 4, "Latitude": rng.normal(size=100),
            "EntryStreetName": rng.choice(WORDS, 100), "Hour": rng.integers(0, 24, 100),
            "Path": rng.choice(WORDS, 100), **{c: rng.uniform(0, 60, 100).round(1) for c in measured},
            "City": rng.choice(["Atlanta", "Boston"], 100),
        })
        table.to_csv(raw / "train.csv", index=False)
        table.drop(columns=measured).head(5).to_csv(raw / "test.csv", index=False)
    elif name == "nbme-score-clinical-patient-notes":
        rows = []
        for note in range(20):
            for feature in range(3):
                spans = [] if (note + feature) % 4 == 0 else [f"{feature * 10} {feature * 10 + 4}", "30 33"][: 1 + note % 2]
                rows.append((f"{note:05d}_{feature:03d}", note % 3, note, feature, str(["x"] * len(spans)), str(spans)))
        pd.DataFrame(rows, columns=["id", "case_num", "pn_num", "feature_num", "annotation", "location"]).to_csv(
            raw / "train.csv", index=False)
        pd.DataFrame({"pn_num": range(20), "case_num": 0, "pn_history": "the patient"}).to_csv(raw / "patient_notes.csv", index=False)
        pd.DataFrame({"feature_num": range(3), "case_num": 0, "feature_text": "fever"}).to_csv(raw / "features.csv", index=False)
    elif name == "mlsp-2013-birds":
        essential = raw / "mlsp_contest_dataset" / "essential_data"
        essential.mkdir(parents=True)
        lines = ["rec_id,[labels]"] + [
            f"{rec},?" if rec % 7 == 0 else ",".join([str(rec), *[str(s) for s in range(19) if (rec * 3 + s) % 5 == 0]])
            for rec in range(40)
        ]
        (essential / "rec_labels_test_hidden.txt").write_text("\n".join(lines) + "\n")
        pd.DataFrame({"rec_id": range(40), "fold": [int(r % 7 == 0) for r in range(40)]}).to_csv(essential / "CVfolds_2.txt", index=False)
        pd.DataFrame({"rec_id": range(40), "filename": [f"PC1_{r}" for r in range(40)]}).to_csv(essential / "rec_id2filename.txt", index=False)
        for rec in range(40):
            touch(essential / "src_wavs" / f"PC1_{rec}.wav", b"RIFF" + bytes([rec]))
    elif name == "facial-keypoints-detection":
        points = [f"{part}_{axis}" for part in ("left_eye_center", "right_eye_center", "nose_tip") for axis in "xy"]
        table = pd.DataFrame({p: rng.uniform(20, 70, 60).round(4) for p in points})
        table.loc[::4, "nose_tip_x"] = np.nan  # Kaggle's faces lack some keypoints
        table["Image"] = [" ".join(map(str, rng.integers(0, 255, 16))) for _ in range(60)]
        table.to_csv(raw / "training.csv", index=False)
        table[["Image"]].head(3).assign(ImageId=[1, 2, 3])[["ImageId", "Image"]].to_csv(raw / "test.csv", index=False)
    elif name == "freesound-audio-tagging-2019":
        tags = ["Accelerating_and_revving_and_vroom", "Bark", "Walk_and_footsteps", "Applause"]
        names = [f"{zlib.crc32(str(i).encode()):08x}.wav" for i in range(50)]
        labels = [",".join(tags[j] for j in range(4) if (i >> j) & 1) or "Bark" for i in range(50)]
        pd.DataFrame({"fname": names, "labels": labels}).to_csv(raw / "train_curated.csv", index=False)
        for file in names:
            touch(raw / "train_curated" / file, b"RIFF" + file.encode())
        pd.DataFrame({"fname": ["x.wav"], **{t: [0.0] for t in tags}}).to_csv(raw / "sample_submission.csv", index=False)
    elif name == "h-and-m-personalized-fashion-recommendations":
        customers = [f"{zlib.crc32(str(i).encode()):016x}" for i in range(30)]
        articles = [f"0{108775015 + i}" for i in range(20)]
        days = pd.date_range("2020-09-01", "2020-09-22")
        rows = [(str(days[i % len(days)].date()), customers[(i * 7) % 30], articles[(i * 3) % 20], 0.05, 2) for i in range(300)]
        pd.DataFrame(rows, columns=["t_dat", "customer_id", "article_id", "price", "sales_channel_id"]).to_csv(
            raw / "transactions_train.csv", index=False)
        pd.DataFrame({"customer_id": customers, "age": 30}).to_csv(raw / "customers.csv", index=False)
        pd.DataFrame({"article_id": articles, "prod_name": "top"}).to_csv(raw / "articles.csv", index=False)
    elif name == "stanford-covid-vaccine":
        records = []
        for i in range(30):
            record = {"index": i, "id": f"id_{zlib.crc32(str(i).encode()):09x}", "sequence": "GGAAAUC" * 2,
                      "structure": "." * 14, "predicted_loop_type": "E" * 14, "signal_to_noise": 5.0,
                      "SN_filter": 1, "seq_length": 14, "seq_scored": 10}
            for target in ("reactivity", "deg_Mg_pH10", "deg_pH10", "deg_Mg_50C", "deg_50C"):
                record[target] = list(rng.uniform(0, 2, 10).round(4))
                record[f"{target}_error" if target == "reactivity" else f"deg_error_{target[4:]}"] = [0.1] * 10
            records.append(record)
        (raw / "train.json").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    elif name == "allstate-purchase-prediction-challenge":
        rows = []
        for customer in range(10000000, 10000040):
            for point in range(1, 6):
                rows.append({"customer_ID": customer, "shopping_pt": point, "record_type": int(point == 5),
                             "day": point % 5, "state": "NY", "group_size": 1, "car_age": 3,
                             **{o: int(rng.integers(0, 3)) for o in "ABCDEFG"}, "cost": 600 + point})
        pd.DataFrame(rows).to_csv(raw / "train.csv", index=False)
    elif name == "shopee-product-matching":
        groups = np.repeat(np.arange(25), 3)[:72]
        table = pd.DataFrame({
            "posting_id": [f"train_{i}" for i in range(len(groups))],
            "image": [f"{i:032x}.jpg" for i in range(len(groups))],
            "image_phash": [f"{i:016x}" for i in range(len(groups))],
            "title": [" ".join(rng.choice(WORDS, 3)) for _ in groups],
            "label_group": [str(249114794 + g) for g in groups],
        })
        table.to_csv(raw / "train.csv", index=False)
        for image in table["image"]:
            touch(raw / "train_images" / image, b"\xff\xd8" + image.encode())
    else:
        raise AssertionError(f"no raw writer for {name}")


ROUND_TWO_CUSTOM = {
    "the-nature-conservancy-fisheries-monitoring", "plant-seedlings-classification",
    "tensorflow-speech-recognition-challenge", "the-icml-2013-whale-challenge-right-whale-redux",
    "denoising-dirty-documents", "integer-sequence-learning", "shopee-product-matching",
    "billion-word-imputation", "bigquery-geotab-intersection-congestion", "nbme-score-clinical-patient-notes",
    "mlsp-2013-birds", "facial-keypoints-detection", "freesound-audio-tagging-2019",
    "h-and-m-personalized-fashion-recommendations", "stanford-covid-vaccine",
    "allstate-purchase-prediction-challenge",
}



def write_round_three_custom_raw(name: str, raw: Path) -> None:
    """Raw folders for the round-three custom recipes: boxes a row, cover/stego versions, numpy frames."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    raw.mkdir(parents=True, exist_ok=True)
    if name == "global-wheat-detection":
        images = [f"{zlib.crc32(str(i).encode()):09x}" for i in range(30)]
        rows = [(image, 1024, 1024, json.dumps([float(10 * k), float(5 * i), 40.0 + k, 30.0]), "usask_1")
                for i, image in enumerate(images[:25]) for k in range(i % 3 + 1)]  # the last 5 have no wheat
        pd.DataFrame(rows, columns=["image_id", "width", "height", "bbox", "source"]).to_csv(raw / "train.csv", index=False)
        for image in images:
            (raw / "train").mkdir(exist_ok=True)
            (raw / "train" / f"{image}.jpg").write_bytes(b"\xff\xd8" + image.encode())
        pd.DataFrame({"image_id": ["x"], "PredictionString": ["1.0 0 0 50 50"]}).to_csv(raw / "sample_submission.csv", index=False)
    elif name == "alaska2-image-steganalysis":
        for folder in ("Cover", "JMiPOD", "JUNIWARD", "UERD"):
            (raw / folder).mkdir()
            for i in range(1, 21):
                (raw / folder / f"{i:05d}.jpg").write_bytes(b"\xff\xd8" + f"{folder}{i}".encode())
        (raw / "Test").mkdir()
        (raw / "Test" / "0001.jpg").write_bytes(b"\xff\xd8test")
        pd.DataFrame({"Id": ["0001.jpg"], "Label": [0.5]}).to_csv(raw / "sample_submission.csv", index=False)
    elif name == "ml2021spring-hw2":
        folder = raw / "timit_11" / "timit_11"  # Kaggle's zip nests the folder once more
        folder.mkdir(parents=True)
        np.save(folder / "train_11.npy", rng.normal(size=(60, 429)).astype(np.float32))
        np.save(folder / "train_label_11.npy", np.resize(np.array(["0", "5", "12", "36"]), 60))
        np.save(folder / "test_11.npy", rng.normal(size=(5, 429)).astype(np.float32))
        pd.DataFrame({"Id": [0], "Class": [0]}).to_csv(raw / "sampleSubmission.csv", index=False)
    elif name == "bengaliai-cv19":
        ids = [f"Train_{i}" for i in range(40)]
        labels = {"grapheme_root": rng.integers(0, 4, 40), "vowel_diacritic": rng.integers(0, 3, 40),
                  "consonant_diacritic": rng.integers(0, 2, 40)}
        pd.DataFrame({"image_id": ids, **labels, "grapheme": "x"}).to_csv(raw / "train.csv", index=False)
        pixels = {str(k): rng.integers(0, 255, 40).astype(np.uint8) for k in range(6)}  # Kaggle's images have 32,332
        for part in range(2):
            rows = slice(20 * part, 20 * part + 20)
            pd.DataFrame({"image_id": ids[rows], **{k: v[rows] for k, v in pixels.items()}}).to_parquet(
                raw / f"train_image_data_{part}.parquet", index=False)
        pd.DataFrame({"component_type": ["grapheme_root"], "label": [0], "component": ["x"]}).to_csv(raw / "class_map.csv", index=False)
        pd.DataFrame({"row_id": ["Test_0_grapheme_root"], "target": [0]}).to_csv(raw / "sample_submission.csv", index=False)
    else:
        raise AssertionError(f"no raw writer for {name}")


ROUND_THREE_CUSTOM = {"global-wheat-detection", "alaska2-image-steganalysis", "ml2021spring-hw2", "bengaliai-cv19"}

def best_value(metric_name: str, kwargs: dict) -> float:
    if metric_name == "group_log_mae":  # log of a zero MAE, floored at 1e-9 as Kaggle does
        return math.log(1e-9)
    return 1.0 if get_metric(metric_name, **kwargs).higher_is_better else 0.0


UNSUPPORTED = {name for name, entry in load_catalog().items() if entry.unsupported}


def test_every_catalog_competition_has_a_raw_layout_in_this_test():
    assert set(load_catalog()) == set(LAYOUTS) | CUSTOM_RAW | ROUND_TWO_CUSTOM | ROUND_THREE_CUSTOM | UNSUPPORTED
    assert len(load_catalog()) >= 200
    assert len(set(load_catalog()) - UNSUPPORTED) >= 200  # issue 15's floor: 200 that prepare and grade


def catalog_params() -> list:
    return sorted(set(load_catalog()) - UNSUPPORTED)


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_a_listed_but_unsupported_competition_says_why_at_prepare(name: str, tmp_path: Path):
    entry = get_entry(name)
    with pytest.raises(RecipeError, match="cannot prepare here") as caught:
        prepare_competition(name, raw_dir=tmp_path, data_root=tmp_path / "d", progress=False)
    assert entry.unsupported in str(caught.value)
    assert not (tmp_path / "d" / name).exists()


@pytest.mark.parametrize("name", catalog_params())
def test_competition_prepares_and_grades(name: str, tmp_path: Path):
    raw = tmp_path / "raw"
    if name in CUSTOM_RAW:
        write_custom_raw(name, raw)
    elif name in ROUND_TWO_CUSTOM:
        write_round_two_custom_raw(name, raw)
    elif name in ROUND_THREE_CUSTOM:
        write_round_three_custom_raw(name, raw)
    else:
        write_raw(name, raw)
    path = prepare_competition(name, raw_dir=raw, data_root=tmp_path / "data", progress=False)
    entry = get_entry(name)
    competition = load_competition_dir(path)
    assert competition.metric == entry.metric

    sample = competition.grade(competition.sample_submission_path)
    assert sample.valid, sample.error

    # The answers, as a submission: the id and target columns (answers may keep a column that
    # says which rows are scored, such as ventilator's u_out).
    perfect_path = tmp_path / "perfect.csv"
    columns = [competition.id_column, *competition.target_columns, *competition.unscored_columns]
    pd.read_csv(competition.answers_path, dtype=str, keep_default_na=False)[columns].to_csv(perfect_path, index=False)
    perfect = competition.grade(perfect_path, split="full")
    assert perfect.valid, perfect.error
    assert perfect.score == pytest.approx(best_value(entry.metric, dict(entry.metric_kwargs)), abs=1e-6)

    # The held-out labels are in private/ only: no public table has the answers' ids with labels.
    answers = competition.answers
    public_tables = [p for p in competition.public_dir.rglob("*") if p.suffix in (".csv", ".tsv", ".json", ".parquet")]
    layout = LAYOUTS.get(name)
    not_data = {"sample_submission.csv", *(layout.extra if layout else ()), layout.sample if layout else ""}
    train_like = [p for p in public_tables if p.name not in not_data and "sample" not in p.name.lower()]
    truth = answers.astype(str).set_index(competition.id_column)
    for table_path in train_like:
        try:
            if table_path.suffix == ".json":
                table = pd.read_json(table_path, dtype=False)
            elif table_path.suffix == ".parquet":
                table = pd.read_parquet(table_path)
            else:
                sep = "\t" if table_path.suffix == ".tsv" else ","
                table = pd.read_csv(table_path, sep=sep, dtype=str, encoding_errors="replace")
        except (ValueError, UnicodeDecodeError):
            continue  # a per-row data file (bytes standing in for a notebook or an image), not a table
        labelled_here = [c for c in competition.target_columns if c in table.columns]
        if labelled_here and competition.id_column in table.columns:
            rows = table.astype(str).drop_duplicates(competition.id_column).set_index(competition.id_column)
            shared = rows.index.intersection(truth.index)
            # a leak is a test id shown with its answer (billion-word's test shows the damaged sentence)
            same = (rows.loc[shared, labelled_here] == truth.loc[shared, labelled_here]).all(axis=1)
            leaked = sorted(shared[same.to_numpy()])
            assert not leaked, f"{table_path.name} holds labelled test rows {leaked[:3]}"


def test_files_per_row_follow_their_rows(tmp_path: Path):
    write_raw("histopathologic-cancer-detection", tmp_path / "raw")
    path = prepare_competition("histopathologic-cancer-detection", raw_dir=tmp_path / "raw", data_root=tmp_path / "d", progress=False)
    train = pd.read_csv(path / "public" / "train_labels.csv", dtype=str)
    answers = pd.read_csv(path / "private" / "test_answer.csv", dtype=str)
    assert {p.stem for p in (path / "public" / "train").iterdir()} == set(train["id"])
    assert {p.stem for p in (path / "public" / "test").iterdir()} == set(answers["id"])
    assert len(train) + len(answers) == 120


def test_a_kaggle_zip_in_raw_dir_is_extracted_into_a_scratch_copy(tmp_path: Path):
    """The manual route with the archive as Kaggle serves it: <name>.zip holding train.zip."""
    loose = tmp_path / "loose"
    write_raw("aerial-cactus-identification", loose)
    inner = loose / "train.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        for image in sorted((loose / "train").iterdir()):
            zf.write(image, f"train/{image.name}")
    shutil.rmtree(loose / "train")
    download = tmp_path / "download"
    download.mkdir()
    with zipfile.ZipFile(download / "aerial-cactus-identification.zip", "w") as zf:
        for item in loose.iterdir():
            zf.write(item, item.name)
    before = sorted(p.name for p in download.iterdir())
    path = prepare_competition("aerial-cactus-identification", raw_dir=download, data_root=tmp_path / "d", progress=False)
    assert sorted(p.name for p in download.iterdir()) == before  # the user's folder is untouched
    competition = load_competition_dir(path)
    assert competition.grade(competition.sample_submission_path).valid
    assert len(list((path / "public" / "test").iterdir())) == len(competition.answers)


def test_split_is_seeded_and_the_same_every_time(tmp_path: Path):
    write_raw("playground-series-s3e12", tmp_path / "raw")
    first = prepare_competition("playground-series-s3e12", raw_dir=tmp_path / "raw", data_root=tmp_path / "a", progress=False)
    second = prepare_competition("playground-series-s3e12", raw_dir=tmp_path / "raw", data_root=tmp_path / "b", progress=False)
    assert (first / "private" / "test_answer.csv").read_bytes() == (second / "private" / "test_answer.csv").read_bytes()


def test_time_split_puts_the_latest_rows_in_the_test(tmp_path: Path):
    write_raw("tabular-playground-series-jan-2022", tmp_path / "raw")
    path = prepare_competition("tabular-playground-series-jan-2022", raw_dir=tmp_path / "raw", data_root=tmp_path / "d", progress=False)
    train = pd.read_csv(path / "public" / "train.csv", parse_dates=["date"])
    test = pd.read_csv(path / "public" / "test.csv", parse_dates=["date"])
    assert train["date"].max() < test["date"].min()


def test_group_split_keeps_each_group_on_one_side(tmp_path: Path):
    write_raw("ventilator-pressure-prediction", tmp_path / "raw")
    path = prepare_competition("ventilator-pressure-prediction", raw_dir=tmp_path / "raw", data_root=tmp_path / "d", progress=False)
    train = pd.read_csv(path / "public" / "train.csv")
    test = pd.read_csv(path / "public" / "test.csv")
    assert set(train["breath_id"]).isdisjoint(test["breath_id"])
    assert "pressure" not in test.columns


def test_leaderboard_saved_beside_the_raw_files_is_used(tmp_path: Path):
    raw = tmp_path / "raw"
    write_raw("spaceship-titanic", raw)
    pd.DataFrame(
        {"TeamId": [1, 2, 3, 4], "TeamName": list("abcd"), "SubmissionDate": "2023-01-01", "Score": [0.79, 0.81, 0.5, 0.8]}
    ).to_csv(raw / "spaceship-titanic-publicleaderboard.csv", index=False)
    path = prepare_competition("spaceship-titanic", raw_dir=raw, data_root=tmp_path / "d", progress=False)
    board = pd.read_csv(path / "private" / "public_leaderboard.csv")
    assert list(board["score"]) == [0.81, 0.8, 0.79, 0.5]  # accuracy: best first
    grade = load_competition_dir(path).grade(path / "private" / "test_answer.csv")
    assert grade.rank == 1 and grade.teams == 4


def test_prepared_competition_is_kept_unless_overwrite(tmp_path: Path):
    raw = tmp_path / "raw"
    write_raw("playground-series-s3e1", raw)
    path = prepare_competition("playground-series-s3e1", raw_dir=raw, data_root=tmp_path / "d", progress=False)
    (path / "public" / "marker").write_text("x")
    assert prepare_competition("playground-series-s3e1", raw_dir=raw, data_root=tmp_path / "d") == path
    assert (path / "public" / "marker").exists()
    prepare_competition("playground-series-s3e1", raw_dir=raw, data_root=tmp_path / "d", overwrite=True, progress=False)
    assert not (path / "public" / "marker").exists()


def test_missing_raw_file_names_what_is_expected(tmp_path: Path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "test.csv").write_text("id,x\n1,2\n")
    with pytest.raises(RecipeError, match=r"expected the raw file train\.csv"):
        prepare_competition("playground-series-s3e1", raw_dir=raw, data_root=tmp_path / "d")
    assert not (tmp_path / "d" / "playground-series-s3e1").exists()  # nothing half-built


def test_wrong_columns_are_reported(tmp_path: Path):
    raw = tmp_path / "raw"
    raw.mkdir()
    pd.DataFrame({"id": range(10), "x": 1.0}).to_csv(raw / "train.csv", index=False)
    with pytest.raises(RecipeError, match=r"expected columns \['MedHouseVal'\]"):
        prepare_competition("playground-series-s3e1", raw_dir=raw, data_root=tmp_path / "d")


def test_unknown_name_lists_close_ones():
    with pytest.raises(NotInCatalog, match="closest: spaceship-titanic"):
        get_entry("spaceship-titanc")


def test_list_catalog_reports_prepared(tmp_path: Path):
    write_raw("playground-series-s3e2", tmp_path / "raw")
    prepare_competition("playground-series-s3e2", raw_dir=tmp_path / "raw", data_root=tmp_path / "d", progress=False)
    rows = {row["name"]: row for row in list_catalog(data_root=tmp_path / "d")}
    assert rows["playground-series-s3e2"]["prepared"] is True
    assert rows["titanic"]["prepared"] is False
    assert rows["titanic"]["higher_is_better"] is True and rows["titanic"]["metric"] == "accuracy"
    lite = list_catalog(sets="mle-lite")
    assert {r["name"] for r in lite} >= {"spooky-author-identification", "leaf-classification"}


def test_catalog_covers_the_floor_of_the_issue(reference):
    """Every MLE-Lite competition whose data is tabular, text or image classification is in
    the catalog; the ones left out are audio or image-to-image, and say so here."""
    facts_dir = reference("mle-dojo-catalog")
    sets = json.loads((facts_dir / "evaluation-sets.json").read_text())["Evaluation"]
    not_classification = {
        "denoising-dirty-documents",  # image to image
        "mlsp-2013-birds",  # audio
        "the-icml-2013-whale-challenge-right-whale-redux",  # audio
    }
    assert set(sets["MLE-Lite"]) - not_classification <= set(load_catalog())
    facts = {**json.loads((facts_dir / "mle.json").read_text()), **json.loads((facts_dir / "dsbench.json").read_text())}
    mle_bench = set((reference("mle-bench") / "split75.txt").read_text().split())
    mle_bench_dev = set((reference("mle-bench") / "dev.txt").read_text().split())
    for entry in load_catalog().values():
        if entry.name not in facts:
            # MLE-bench's own lists have a few the MLE-Dojo metadata lacks; the rest are Kaggle's
            # Playground Series and Getting Started competitions, marked so, whose facts beyond the
            # title and URL are left unknown
            assert entry.name in mle_bench | mle_bench_dev or {"playground", "getting-started"} & set(entry.sets), entry.name
            assert entry.url == f"https://www.kaggle.com/competitions/{entry.name}"
            continue
        assert entry.url == facts[entry.name]["href"]
        assert entry.title == facts[entry.name]["title"]
    # the issue's floor: MLE-Dojo's lists and MLE-bench's 75 (and its development split) are all in the catalog
    assert set(facts) | mle_bench | mle_bench_dev <= set(load_catalog())
    training = json.loads((facts_dir / "evaluation-sets.json").read_text())["Training"]  # MLE-Dojo's training list
    assert set(training) <= set(load_catalog())


def test_ventilator_answers_keep_u_out_and_only_the_inspiratory_phase_is_scored(tmp_path: Path):
    write_raw("ventilator-pressure-prediction", tmp_path / "raw")
    path = prepare_competition("ventilator-pressure-prediction", raw_dir=tmp_path / "raw", data_root=tmp_path / "d", progress=False)
    competition = load_competition_dir(path)
    assert competition.scored_rows == {"column": "u_out", "equals": 0}
    answers = pd.read_csv(competition.answers_path)
    expiratory = answers["u_out"].to_numpy() == 1
    assert expiratory.any() and not expiratory.all()
    off = answers[["id", "pressure"]].assign(pressure=np.where(expiratory, answers["pressure"] + 50, answers["pressure"]))
    off.to_csv(tmp_path / "sub.csv", index=False)
    grade = competition.grade(tmp_path / "sub.csv", split="full")
    assert grade.valid and grade.score == 0.0, grade.error
    assert grade.details["rows_scored"] == int((~expiratory).sum())


def test_whale_test_identities_never_seen_in_train_become_new_whale(tmp_path: Path):
    raw = tmp_path / "raw"
    (raw / "train").mkdir(parents=True)
    # 60 images of 4 known whales and 60 whales seen once: some singletons land in the test
    ids = [f"w_{i % 4:07x}" for i in range(60)] + [f"w_{1000 + i:07x}" for i in range(60)]
    images = [f"{i:08x}.jpg" for i in range(len(ids))]
    for image in images:
        (raw / "train" / image).write_bytes(b"\xff\xd8" + image.encode())
    pd.DataFrame({"Image": images, "Id": ids}).to_csv(raw / "train.csv", index=False)
    pd.DataFrame({"Image": ["x.jpg"], "Id": ["new_whale"]}).to_csv(raw / "sample_submission.csv", index=False)
    path = prepare_competition("whale-categorization-playground", raw_dir=raw, data_root=tmp_path / "d", progress=False)
    train = pd.read_csv(path / "public" / "train.csv")
    answers = pd.read_csv(path / "private" / "test_answer.csv")
    unseen = set(answers["Id"]) - set(train["Id"])
    assert unseen == {"new_whale"}, sorted(unseen)[:5]
    assert (answers["Id"] == "new_whale").sum() > 0


def test_the_label_set_covers_a_class_that_only_train_has(tmp_path: Path):
    """tabular-playground-series-dec-2021: Cover_Type 5 occurs once; it is a valid label."""
    raw = tmp_path / "raw"
    write_raw("tabular-playground-series-dec-2021", raw)
    train = pd.read_csv(raw / "train.csv")
    train.loc[0, "Cover_Type"] = 5  # once: the stratified split cannot put it on both sides
    train.to_csv(raw / "train.csv", index=False)
    path = prepare_competition("tabular-playground-series-dec-2021", raw_dir=raw, data_root=tmp_path / "d", progress=False)
    competition = load_competition_dir(path)
    assert competition.labels["Cover_Type"] == ["1", "2", "3", "5", "7"]
    answers = competition.answers
    guess = answers[["Id"]].assign(Cover_Type=5)
    guess.to_csv(tmp_path / "fives.csv", index=False)
    grade = competition.grade(tmp_path / "fives.csv", split="full")
    assert grade.valid, grade.error
    assert grade.score == pytest.approx(float((answers["Cover_Type"] == 5).mean()))


def test_text_targets_that_look_missing_survive_preparation(tmp_path: Path):
    """tweet-sentiment-extraction: a selected_text of "NA" or "None" is an answer."""
    raw = tmp_path / "raw"
    write_raw("tweet-sentiment-extraction", raw)
    train = pd.read_csv(raw / "train.csv", dtype=str, keep_default_na=False)
    train.loc[:, "selected_text"] = np.resize(["NA", "None", "null", "N/A", "good day"], len(train))
    train.to_csv(raw / "train.csv", index=False)
    path = prepare_competition("tweet-sentiment-extraction", raw_dir=raw, data_root=tmp_path / "d", progress=False)
    competition = load_competition_dir(path)
    assert set(competition.answers["selected_text"]) <= {"NA", "None", "null", "N/A", "good day"}
    assert competition.grade(competition.answers_path, split="full").score == 1.0


def test_a_parquet_raw_file_that_is_not_parquet_is_one_line_naming_it(tmp_path: Path):
    from dojo_kernel.prepare.safe_files import RawFileError

    raw = tmp_path / "raw"
    write_raw("wsdm-cup-multilingual-chatbot-arena", raw)
    (raw / "train.parquet").write_bytes(b"id,winner\n1,model_a\n")  # a CSV under a parquet name
    with pytest.raises(RawFileError, match=r"expected train\.parquet to be a well-formed table"):
        prepare_competition("wsdm-cup-multilingual-chatbot-arena", raw_dir=raw, data_root=tmp_path / "d", progress=False)
    assert not (tmp_path / "d" / "wsdm-cup-multilingual-chatbot-arena").exists()


def test_readme_states_the_catalog_counts():
    """README's counts are the catalog's: a new entry updates them."""
    text = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())
    catalog = load_catalog()
    preparable = len(set(catalog) - UNSUPPORTED)
    assert f"knows {len(catalog)} Kaggle competitions" in text
    assert f"{preparable} of them prepare" in text and f"the other {len(UNSUPPORTED)} are listed" in text
